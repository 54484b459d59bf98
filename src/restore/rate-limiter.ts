// The token bucket is shared with the backup's rate limits (backup and restore never import each other).
export { RateLimiter } from '../util/rate-limiter.js';
