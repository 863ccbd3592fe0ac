from ganstudio.cli import main

main()
