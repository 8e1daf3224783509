//! Test helpers: a throwaway PostgreSQL cluster (or TEST_DATABASE_URL) and a fresh database per test.
