/** `@b24etl/sinks/OAuthTokens`, re-exported as `b24etl/OAuthTokens`. */
export * from "@b24etl/sinks/OAuthTokens"
