import sys

from clipforge.cli.app import main

sys.exit(main())
