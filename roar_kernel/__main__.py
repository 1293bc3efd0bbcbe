"""`python -m roar_kernel -f CONNECTION_FILE`: what the roar kernelspec runs."""

import sys

from roar_kernel.launcher import main

sys.exit(main())
