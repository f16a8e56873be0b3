-- One row per creator of the latest creators snapshot: the names the per-creator marts
-- and reports show beside creator_id (marts.md version 2).

select
    creator_id,
    creator_name as name,
    creator_category as category,
    joined_at
from {{ ref('stg_creators') }}
