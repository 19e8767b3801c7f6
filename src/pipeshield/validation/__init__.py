"""Model validation: how well each model does on clean data, the baseline every attack is
measured against (robust accuracy, extraction fidelity and leakage all read relative to it)."""
