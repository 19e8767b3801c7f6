"""``python -m pipeshield``: the same entry point as the ``pipeshield`` command."""

from pipeshield.cli import main

if __name__ == "__main__":
    main()
