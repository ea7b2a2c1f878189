-- Create per-document view statistics (document_view_stats, document_viewers) maintained by a trigger on document_views.
CREATE TABLE document_view_stats (
    document_id     bigint      PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    view_count      bigint      NOT NULL DEFAULT 0,
    unique_viewers  bigint      NOT NULL DEFAULT 0,
    first_viewed_at timestamptz,
    last_viewed_at  timestamptz,
    last_viewer_id  bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT document_view_stats_view_count_non_negative CHECK (view_count >= 0),
    CONSTRAINT document_view_stats_unique_viewers_valid CHECK (
        unique_viewers >= 0 AND unique_viewers <= view_count
    ),
    CONSTRAINT document_view_stats_viewed_order CHECK (
        first_viewed_at IS NULL OR last_viewed_at >= first_viewed_at
    )
);

CREATE INDEX document_view_stats_last_viewer_id_idx ON document_view_stats (last_viewer_id);

CREATE TRIGGER document_view_stats_set_updated_at
    BEFORE UPDATE ON document_view_stats
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row per (document, viewer): makes unique-viewer counting exact, even under concurrency.
CREATE TABLE document_viewers (
    document_id     bigint      NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    user_id         bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    view_count      bigint      NOT NULL DEFAULT 1,
    first_viewed_at timestamptz NOT NULL,
    last_viewed_at  timestamptz NOT NULL,
    CONSTRAINT document_viewers_pkey PRIMARY KEY (document_id, user_id),
    CONSTRAINT document_viewers_view_count_positive CHECK (view_count > 0),
    CONSTRAINT document_viewers_viewed_order CHECK (last_viewed_at >= first_viewed_at)
);

CREATE INDEX document_viewers_user_id_idx ON document_viewers (user_id, last_viewed_at DESC);

-- Backfill from the view history recorded so far.
INSERT INTO document_viewers (document_id, user_id, view_count, first_viewed_at, last_viewed_at)
SELECT v.document_id, v.user_id, count(*), min(v.viewed_at), max(v.viewed_at)
  FROM document_views v
 WHERE v.user_id IS NOT NULL
 GROUP BY v.document_id, v.user_id;

INSERT INTO document_view_stats
       (document_id, view_count, unique_viewers, first_viewed_at, last_viewed_at, last_viewer_id)
SELECT v.document_id,
       count(*),
       count(DISTINCT v.user_id),
       min(v.viewed_at),
       max(v.viewed_at),
       (array_agg(v.user_id ORDER BY v.viewed_at DESC, v.id DESC))[1]
  FROM document_views v
 GROUP BY v.document_id;

-- Fold every new view into document_viewers and document_view_stats.
CREATE FUNCTION document_views_update_stats() RETURNS trigger
    LANGUAGE plpgsql
AS $body$
DECLARE
    inserted      bigint;
    is_new_viewer boolean := false;
BEGIN
    IF NEW.user_id IS NOT NULL THEN
        INSERT INTO document_viewers (document_id, user_id, view_count, first_viewed_at, last_viewed_at)
        VALUES (NEW.document_id, NEW.user_id, 1, NEW.viewed_at, NEW.viewed_at)
        ON CONFLICT (document_id, user_id) DO NOTHING;
        GET DIAGNOSTICS inserted = ROW_COUNT;
        is_new_viewer := inserted > 0;

        IF NOT is_new_viewer THEN
            UPDATE document_viewers
               SET view_count      = view_count + 1,
                   first_viewed_at = LEAST(first_viewed_at, NEW.viewed_at),
                   last_viewed_at  = GREATEST(last_viewed_at, NEW.viewed_at)
             WHERE document_id = NEW.document_id
               AND user_id = NEW.user_id;
        END IF;
    END IF;

    INSERT INTO document_view_stats AS s
           (document_id, view_count, unique_viewers, first_viewed_at, last_viewed_at, last_viewer_id)
    VALUES (NEW.document_id, 1, CASE WHEN is_new_viewer THEN 1 ELSE 0 END,
            NEW.viewed_at, NEW.viewed_at, NEW.user_id)
    ON CONFLICT (document_id) DO UPDATE
       SET view_count      = s.view_count + 1,
           unique_viewers  = s.unique_viewers + CASE WHEN is_new_viewer THEN 1 ELSE 0 END,
           first_viewed_at = LEAST(s.first_viewed_at, EXCLUDED.first_viewed_at),
           last_viewed_at  = GREATEST(s.last_viewed_at, EXCLUDED.last_viewed_at),
           last_viewer_id  = CASE
                                 WHEN s.last_viewed_at IS NULL
                                   OR EXCLUDED.last_viewed_at >= s.last_viewed_at
                                 THEN EXCLUDED.last_viewer_id
                                 ELSE s.last_viewer_id
                             END;
    RETURN NULL;
END;
$body$;

CREATE TRIGGER document_views_update_stats
    AFTER INSERT ON document_views
    FOR EACH ROW EXECUTE FUNCTION document_views_update_stats();
