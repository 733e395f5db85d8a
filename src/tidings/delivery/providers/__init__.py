"""Push providers: each turns a payload into one provider answer (`base.Outcome`)."""
