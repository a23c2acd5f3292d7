import TLCCommands
TLC.main()
