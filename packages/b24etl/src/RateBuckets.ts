/** `@b24etl/core/RateBuckets`, re-exported as `b24etl/RateBuckets`. */
export * from "@b24etl/core/RateBuckets"
