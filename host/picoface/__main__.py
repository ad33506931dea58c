from picoface.cli import main

raise SystemExit(main())
