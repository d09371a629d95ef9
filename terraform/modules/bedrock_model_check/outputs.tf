# No outputs: a scoped data source (inside a check block) cannot be referenced outside it.
