import sys

from unziplora.cli import main

sys.exit(main())
