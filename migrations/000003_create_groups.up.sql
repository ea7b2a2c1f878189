-- Create groups and the group_members many-to-many table with a membership role.
CREATE TABLE groups (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT groups_name_not_empty CHECK (btrim(name) <> ''),
    CONSTRAINT groups_name_key UNIQUE (name)
);

CREATE TRIGGER groups_set_updated_at
    BEFORE UPDATE ON groups
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE group_members (
    group_id   bigint      NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text        NOT NULL DEFAULT 'member',
    added_by   bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT group_members_pkey PRIMARY KEY (group_id, user_id),
    CONSTRAINT group_members_role_valid CHECK (role IN ('owner', 'admin', 'member', 'viewer'))
);

-- "Which groups is this user in?" (the primary key covers the other direction).
CREATE INDEX group_members_user_id_idx ON group_members (user_id);

CREATE TRIGGER group_members_set_updated_at
    BEFORE UPDATE ON group_members
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
