from cotvtm_desktop.cli import main

if __name__ == "__main__":  # not when a spawned render worker imports this module as its parent's main
    main()
