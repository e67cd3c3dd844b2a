from cotvtm_desktop.cli import main

main()
