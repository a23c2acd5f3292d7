// Planner — lowers resolved specs to a plan: a DAG of pure stages, each with a
// content hash over canonical bytes. Plans print as text, JSON and Graphviz dot.
// It never runs anything.
