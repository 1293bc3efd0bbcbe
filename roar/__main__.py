from roar.cli.main import main

raise SystemExit(main())
