from hyperloop.cli import main

main()
