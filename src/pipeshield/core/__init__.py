"""The core every subsystem builds on: findings, the pipeline file, targets, the check registry,
executors and the governance mappings."""
