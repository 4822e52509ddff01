from bench import projector

projector.main()
