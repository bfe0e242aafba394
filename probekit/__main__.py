"""`python -m probekit ...`: the CLI, also as torchrun starts it (`torchrun ... -m probekit extract ...`)."""

from probekit.cli import main

if __name__ == "__main__":
    main()
