# The installation script of the current version (one file a DBA reviews) installs
# exactly what version 1.0 and the chain of upgrade scripts install: every member
# object of the extension, with its definition, columns, constraints, indexes,
# storage, options, privileges and comments, and the tables pg_dump keeps.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('install');
$node->init;
$node->start;

my $version = $node->safe_psql('postgres', q{SELECT default_version FROM pg_available_extensions WHERE name = 'ssn'});
ok(-f $node->config_data('--sharedir') . "/extension/ssn--$version.sql",
	"an installation script of the default version $version exists");

$node->safe_psql('postgres', 'CREATE DATABASE direct');
$node->safe_psql('postgres', 'CREATE DATABASE chain');
$node->safe_psql('direct', 'CREATE EXTENSION ssn');
$node->safe_psql('chain', q{CREATE EXTENSION ssn VERSION '1.0'; ALTER EXTENSION ssn UPDATE});
is($node->safe_psql($_, q{SELECT extversion FROM pg_extension WHERE extname = 'ssn'}), $version, "$_: ssn $version")
  for qw(direct chain);

# One line per member object and per detail of it; no OIDs, so two databases compare.
my $members = q{
WITH m AS (
	SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'ssn'),
lines AS (
	SELECT pg_describe_object(m.classid, m.objid, 0) AS obj, 'is member' AS what FROM m
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), 'function ' || CASE WHEN p.prokind = 'a'
		THEN format('aggregate %s %s %s %s %s', a.aggtransfn, a.aggfinalfn, a.aggtranstype::regtype, a.agginitval, a.aggcombinefn)
		ELSE pg_get_functiondef(p.oid) END || ' acl=' || coalesce(p.proacl::text, '-')
	FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
		LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), format('relation kind=%s options=%s acl=%s persistence=%s',
		c.relkind, c.reloptions, c.relacl, c.relpersistence)
	FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), format('column %s %s %s notnull=%s collation=%s storage=%s default=%s identity=%s',
		a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, co.collname, a.attstorage,
		pg_get_expr(ad.adbin, ad.adrelid), a.attidentity)
	FROM m JOIN pg_attribute a ON m.classid = 'pg_class'::regclass AND a.attrelid = m.objid AND a.attnum > 0 AND NOT a.attisdropped
		LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
		LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), 'constraint ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
	FROM m JOIN pg_constraint con ON m.classid = 'pg_class'::regclass AND con.conrelid = m.objid
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), 'index ' || pg_get_indexdef(i.indexrelid)
		|| ' options=' || coalesce(ic.reloptions::text, '-')
	FROM m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
		JOIN pg_class ic ON ic.oid = i.indexrelid
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), 'view ' || pg_get_viewdef(m.objid)
	FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid AND c.relkind IN ('v', 'm')
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), 'trigger ' || pg_get_triggerdef(tg.oid)
	FROM m JOIN pg_trigger tg ON m.classid = 'pg_class'::regclass AND tg.tgrelid = m.objid AND NOT tg.tgisinternal
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), format('type %s %s %s %s %s %s %s %s %s %s %s',
		t.typtype, t.typlen, t.typbyval, t.typalign, t.typstorage, t.typinput, t.typoutput, t.typreceive, t.typsend,
		t.typmodin, t.typmodout)
	FROM m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), format('operator %s %s %s %s %s %s',
		o.oprcode, o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest, o.oprjoin, o.oprresult::regtype)
	FROM m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), format('cast %s %s %s', ca.castfunc::regprocedure, ca.castcontext, ca.castmethod)
	FROM m JOIN pg_cast ca ON m.classid = 'pg_cast'::regclass AND ca.oid = m.objid
	UNION ALL
	SELECT pg_describe_object(m.classid, m.objid, 0), 'schema acl=' || coalesce(n.nspacl::text, '-')
	FROM m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
	UNION ALL
	SELECT pg_describe_object(ds.classoid, ds.objoid, ds.objsubid), 'comment ' || ds.description
	FROM m JOIN pg_description ds ON ds.classoid = m.classid AND ds.objoid = m.objid
	UNION ALL
	SELECT 'extension', format('config %s conditions %s', (SELECT array_agg(c::regclass::text) FROM unnest(e.extconfig) c),
		e.extcondition)
	FROM pg_extension e WHERE e.extname = 'ssn')
SELECT obj || ' :: ' || what FROM lines ORDER BY 1};

my $direct = $node->safe_psql('direct', $members);
my $chain = $node->safe_psql('chain', $members);
my @d = split /\n/, $direct;
my @c = split /\n/, $chain;
cmp_ok(scalar(@d), '>', 500, 'the description of the installed objects is not empty (' . scalar(@d) . ' lines)');
my %in_c = map { $_ => 1 } @c;
my %in_d = map { $_ => 1 } @d;
my @only_d = grep { !$in_c{$_} } @d;
my @only_c = grep { !$in_d{$_} } @c;
ok(!@only_d && !@only_c, "CREATE EXTENSION ssn installs what 1.0 and the upgrade scripts install")
  or diag "only from the installation script:\n  " . join("\n  ", @only_d)
  . "\nonly from the upgrade chain:\n  " . join("\n  ", @only_c);

# the check can fail: a difference in one column's storage is seen
$node->safe_psql('chain', q{ALTER TABLE ssn.outbox ALTER COLUMN blob SET STORAGE extended});
isnt($node->safe_psql('chain', $members), $direct, '...and it sees a change as small as one column\'s storage');

done_testing();
