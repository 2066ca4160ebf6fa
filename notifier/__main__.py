from notifier.main import main

raise SystemExit(main())
