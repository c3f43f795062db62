from digitduel.cli.main import main

main()
