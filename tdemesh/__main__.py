from tdemesh.cli import main

main()
