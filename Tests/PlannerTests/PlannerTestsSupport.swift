// PlannerTests — Swift Testing suites for this module.
import Testing
