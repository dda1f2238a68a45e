/** `@b24etl/core/EntityProgress`, re-exported as `b24etl/EntityProgress`. */
export * from "@b24etl/core/EntityProgress"
