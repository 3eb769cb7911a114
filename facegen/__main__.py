import sys

from facegen.cli import main

sys.exit(main())
