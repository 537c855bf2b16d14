"""``python -m binas``: the same command line as the ``binas`` console script."""

from binas.cli import main

if __name__ == "__main__":
    main()
