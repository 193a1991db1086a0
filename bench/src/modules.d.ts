// Packages the benchmark drives without published types in this workspace.
declare module "autocannon"
declare module "express"
