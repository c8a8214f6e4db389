"""``python -m vafusion`` (also what ``torchrun -m vafusion train`` runs)."""

from vafusion.cli import main

if __name__ == "__main__":
    main()
