import sys

from dlnotes.cli import main

sys.exit(main())
