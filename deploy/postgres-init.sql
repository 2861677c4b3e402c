-- Run by the PostgreSQL image once, when its data volume is new (deploy/stack.yml): the
-- platform's database beside JupyterHub's (POSTGRES_DB), both owned by POSTGRES_USER.
CREATE DATABASE stellars;
