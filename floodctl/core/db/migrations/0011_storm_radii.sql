-- Wind radii of a storm fix, as the CMA gives them: how far from the centre winds reach force 7
-- (≥ 13.9 m/s), force 10 (≥ 24.5 m/s) and force 12 (≥ 32.7 m/s), km. Null: not known, or the storm
-- does not reach that force. A drill fills them from its own wind model (simulators.hazard.wind_radii_km).
ALTER TABLE storm_fixes
    ADD COLUMN r7_km  double precision CONSTRAINT storm_fixes_r7_km_check CHECK (r7_km >= 0),
    ADD COLUMN r10_km double precision CONSTRAINT storm_fixes_r10_km_check CHECK (r10_km >= 0),
    ADD COLUMN r12_km double precision CONSTRAINT storm_fixes_r12_km_check CHECK (r12_km >= 0);
