// The eCLAT compiler: see docs/eclat.md.
