// FrontEnd — everything between an experiment file and a resolved, validated spec:
// the YAML document tree with source locations (libyaml's event API), diagnostics,
// the spec language's value types, `extends`, `--set` overrides and sweep expansion.
// It knows nothing about training, plans or files under Outputs.
