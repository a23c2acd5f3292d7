// EngineTests — Swift Testing suites for this module.
import Testing
