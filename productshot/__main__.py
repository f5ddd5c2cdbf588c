import sys

from productshot.cli.main import main

sys.exit(main())
