import sys

from lc.cli import main

sys.exit(main())
