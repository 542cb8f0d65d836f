import sys

from rfi_crawler.dataset.cli import main

sys.exit(main())
