import TLCCommands
TLC.entry()
