"""SpiffWorkflow behind our own rules: the hardened loader and deploy gate (features register Markers), the safe
expression language, forms, the script engine and state codec, the interpreter feeding recorded inputs, and
SpiffWorkflow's migration checked. The only room that imports SpiffWorkflow; it knows no database and no feature."""
