"""`python -m tfusion` runs the command line."""

import sys

from tfusion.cli.main import main

sys.exit(main())
