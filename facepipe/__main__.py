import sys

from facepipe.cli.main import main

sys.exit(main())
