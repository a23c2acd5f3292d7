// Runtime — executes a plan's stages with the engine and writes run directories.
