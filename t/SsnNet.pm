# Test harness for the secure storage network: N PostgreSQL nodes (node1..nodeN)
# with ssn preloaded, one kme-sim serving a QKD link per pair of SAEs, the SSN PKI
# (root CA, per node an SAE, a server and a peer client certificate), TLS between
# nodes with certificate logins (node i logs in everywhere as its own role ssn_peer_nodei, a member of ssn_peer), and every node registered on every
# node as a shareholder.  Mirrors tools/ssn-local.
#
#   my $net = SsnNet->new(n => 5);          # or SsnNet->new(5)
#   $net->sql(1, 'SELECT ...');             # stdout, dies on error
#   my ($rc, $out, $err) = $net->psql(1, 'SELECT ...', user => 'alice');
#   $net->wait_delivered(1, 180);           # outbox of node1 empty?
#   $net->stop(3); $net->start(3); $net->kill9(1);
#   $net->kme_restart(rate => '1', initial_keys => 0);   $net->kme_stop;
package SsnNet;
use strict;
use warnings;
use Carp;
use File::Basename ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use SsnKme;

my @live_nets;

sub tool { return "$ENV{SSN_TOOLS}/$_[0]"; }

sub run_or_die
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err)
	  or croak "@cmd failed: $err$out";
	return $out;
}

# new(n => 5, version => '1.1', conf => 'extra postgresql.conf text',
#     kme => { link parameters }, name => 'net')
sub new
{
	my $class = shift;
	my %o = @_ == 1 ? (n => $_[0]) : @_;
	my $self = bless {
		n => $o{n} // 5,
		version => $o{version} // $ENV{SSN_TEST_VERSION},
		dir => "$PostgreSQL::Test::Utils::tmp_check/" . ($o{name} // ('ssnnet_' . File::Basename::basename($0, '.pl'))),
		kme_link => $o{kme} // {},
		owners => $o{owners} // [],
		nodes => [],
		kme_pid => undef,
	}, $class;
	my $n = $self->{n};
	my $dir = $self->{dir};
	mkdir $dir or croak "mkdir $dir: $!";
	my $pki = $self->{pki} = "$dir/pki";

	# ---- PKI: root CA, KME server certificate, per node SAE, server, peer client
	my $t0 = time;
	my $ssn_pki = tool('ssn-pki');
	run_or_die($ssn_pki, 'init', $pki, '--cn', 'SSN manager root CA (TAP)');
	run_or_die($ssn_pki, 'issue', $pki, '--kind', 'kme', 'kme', '--dns', 'localhost', '--ip', '127.0.0.1');
	for my $i (1 .. $n)
	{
		run_or_die($ssn_pki, 'issue', $pki, '--kind', 'sae', "SAE_$i");
		run_or_die($ssn_pki, 'issue', $pki, '--kind', 'server', "node$i", '--dns', 'localhost', '--ip', '127.0.0.1');
		run_or_die($ssn_pki, 'issue', $pki, '--kind', 'client', "node${i}_peer", '--cn', "ssn_peer_node$i");
	}
	# data owners (SSN-U): SAEs of their own, with a QKD link to every node
	run_or_die($ssn_pki, 'issue', $pki, '--kind', 'sae', $_) for @{ $self->{owners} };
	note sprintf('SsnNet: PKI for %d nodes in %.1f s', $n, time - $t0);

	# ---- the KME simulator: one two-way link per pair of SAEs
	$self->kme_start(port => 0);

	# ---- nodes
	for my $i (1 .. $n)
	{
		my $node = PostgreSQL::Test::Cluster->new("node$i");
		$node->init(allows_streaming => 0, extra => [ '--encoding=UTF8', '--locale=C' ]);
		my $sae = SsnKme::sae_conf($pki, $self->kme_url, "SAE_$i");
		$node->append_conf('postgresql.conf', qq{
# ---- SsnNet
listen_addresses = '127.0.0.1'
log_statement = 'none'
log_line_prefix = '%m [%p] node$i %b %q%u@%d '
shared_preload_libraries = 'ssn'
max_worker_processes = 20
max_prepared_transactions = 10
max_connections = 50
shared_buffers = 32MB
ssl = on
ssl_cert_file = '$pki/server/node$i.crt'
ssl_key_file = '$pki/server/node$i.key'
ssl_ca_file = '$pki/ca.crt'
ssl_crl_file = '$pki/crl.pem'
ssn.database = 'postgres'
# a health check every second, each allowed 2 s (twice the interval): often enough
# for the tests to see a peer go and come back soon, and not so tight that a loaded
# machine fails pings of peers that are up
ssn.health_interval = 1000
ssn.peer_connect_timeout = 2
# a request to a peer may take a while on a loaded machine: up (refused at once)
# or down is what the tests change, never a peer that hangs
ssn.peer_timeout = 60000
ssn.channel_retry_max = 1000
$sae
} . ($o{conf} // ''));
		# first match wins: peers only with a client certificate of the SSN CA
		my $hba = slurp_file($node->data_dir . '/pg_hba.conf');
		open my $fh, '>', $node->data_dir . '/pg_hba.conf' or croak $!;
		print $fh "# SsnNet: each peer logs in as its own role (member of ssn_peer) with a certificate whose CN is that role\n"
		  . "hostssl all +ssn_peer 127.0.0.1/32 cert\n"
		  . "host    all +ssn_peer 127.0.0.1/32 reject\n"
		  . $hba;
		close $fh;
		push @{ $self->{nodes} }, $node;
	}
	push @live_nets, $self;
	$self->{ports} = [ map { $_->port } @{ $self->{nodes} } ];
	$_->start for @{ $self->{nodes} };

	# the extension on every node first, then the catalogs: a node's health worker
	# starts checking its peers once it knows them, and they answer only once they
	# have the extension
	my $ext = defined $self->{version} ? " VERSION '$self->{version}'" : '';
	for my $i (1 .. $n)
	{
		$self->node($i)->safe_psql('postgres', qq{
SET client_min_messages = warning;
CREATE EXTENSION ssn$ext;});
	}
	for my $i (1 .. $n)
	{
		my $reg = '';
		for my $j (1 .. $n)
		{
			my $ci = $self->conninfo($i, $j);
			$reg .= "SELECT ssn.add_shareholder('node$j', 'SAE_$j', '$ci', $j, 'node$j');\n";
		}
		$self->node($i)->safe_psql('postgres', "SET client_min_messages = warning;\n$reg");
	}
	$self->wait_settled;
	note sprintf('SsnNet: %d nodes up (ports %s), KME on %s, %.1f s', $n,
		join(',', @{ $self->{ports} }), $self->kme_url, time - $t0);
	return $self;
}

# wait_settled(TIMEOUT_S): until every running node's health worker has found every
# other running node reachable (ssn.peer_health, from ssn 1.1), so that a test starts
# from a network that has settled; croaks if it does not within the time (180 s)
sub wait_settled
{
	my ($self, $timeout) = @_;
	$timeout //= 180;
	my $deadline = time + $timeout;
	my @up = grep { $self->running($_) } 1 .. $self->{n};
	for my $i (@up)
	{
		next unless ($self->query($i, q{SELECT to_regclass('ssn.peer_health') IS NOT NULL}) // '') eq 't';
		my $others = join(',', map { "'node$_'" } grep { $_ != $i } @up);
		next unless $others;
		my $left = int($deadline - time);
		$left = 1 if $left < 1;
		next if $self->poll($i, qq{SELECT count(*) FROM ssn.peer_health WHERE reachable AND peer IN ($others)},
			scalar(@up) - 1, $left);
		croak "SsnNet: node$i does not see every other node reachable within ${timeout}s\n" . $self->channel_report($i);
	}
	return 1;
}



# true if node1 runs ssn at version V; else a failed test, the network torn down
sub has_version
{
	my ($self, $v) = @_;
	return 1
	  if Test::More::is($self->query(1, q{SELECT extversion FROM pg_extension WHERE extname = 'ssn'}),
		$v, "ssn $v installed");
	$self->teardown;
	return 0;
}

# the random seed of a test (SSN_TEST_SEED repeats a run), seeded and reported
sub seed
{
	my $seed = $ENV{SSN_TEST_SEED} // int(rand(1_000_000));
	srand($seed);
	Test::More::diag("random seed $seed (SSN_TEST_SEED=$seed repeats this run's random moments)");
	return $seed;
}

sub n { return $_[0]{n}; }
sub dir { return $_[0]{dir}; }
sub pki { return $_[0]{pki}; }
sub node { my ($self, $i) = @_; croak "no node $i" unless $i >= 1 && $i <= $self->{n}; return $self->{nodes}[ $i - 1 ]; }
sub nodes { return @{ $_[0]{nodes} }; }
sub port { my ($self, $i) = @_; return $self->{ports}[ $i - 1 ]; }
sub running { my ($self, $i) = @_; return defined $self->node($i)->{_pid}; }

# the conninfo node FROM uses to log in at node TO as its own peer role ssn_peer_nodeFROM
# (FROM's client certificate; ssn.add_shareholder on TO created the role)
sub conninfo
{
	my ($self, $from, $to) = @_;
	my $pki = $self->{pki};
	return "host=127.0.0.1 port=" . $self->port($to) . " dbname=postgres user=ssn_peer_node$from"
	  . " sslmode=verify-full sslrootcert=$pki/ca.crt sslcrl=$pki/crl.pem"
	  . " sslcert=$pki/client/node${from}_peer.crt sslkey=$pki/client/node${from}_peer.key"
	  . " connect_timeout=30";
}

# sql(I, SQL, user => ROLE, db => DB): stdout of psql -XAtq, dies (with the error) on failure
sub sql
{
	my ($self, $i, $sql, %o) = @_;
	my ($rc, $out, $err) = $self->psql($i, $sql, %o);
	croak "node$i: query failed (rc $rc): $err\nquery: " . substr($sql, 0, 2000) if $rc != 0;
	return $out;
}

# query(I, SQL, %o): stdout on success; on failure undef and a diag with the error
# (for tests that must go on after a failed query)
sub query
{
	my ($self, $i, $sql, %o) = @_;
	my ($rc, $out, $err) = $self->psql($i, $sql, %o);
	return $out if $rc == 0;
	my $q = length($sql) > 300 ? substr($sql, 0, 300) . '...' : $sql;
	diag "node$i: query failed (rc $rc): $err  query: $q";
	return undef;
}

# psql(I, SQL, user => ROLE, db => DB, timeout => S): (rc, stdout, stderr); stops at the first
# error; stderr in verbose form (SQLSTATE included)
sub psql
{
	my ($self, $i, $sql, %o) = @_;
	my $node = $self->node($i);
	my ($out, $err) = ('', '');
	my @extra = ('-v', 'VERBOSITY=verbose');
	push @extra, ('-U', $o{user}) if $o{user};
	my $rc = $node->psql($o{db} // 'postgres', $sql, stdout => \$out, stderr => \$err,
		extra_params => \@extra, on_error_die => 0, on_error_stop => 1,
		($o{timeout} ? (timeout => $o{timeout}) : ()));
	return ($rc, $out, $err);
}

# poll(I, SQL, EXPECTED, TIMEOUT_S): true once SQL on node I returns EXPECTED (a string
# or a qr//); on timeout (default 120 s: it only matters when the event never comes)
# a diag with the last answer.  Polls every 100 ms.
sub poll
{
	my ($self, $i, $sql, $expected, $timeout) = @_;
	$timeout //= 120;
	my $deadline = time + $timeout;
	my ($rc, $out, $err);
	while (1)
	{
		($rc, $out, $err) = $self->psql($i, $sql, timeout => $timeout + 5);
		if ($rc == 0)
		{
			return 1 if ref $expected ? $out =~ $expected : $out eq $expected;
		}
		last if time > $deadline;
		usleep(100_000);
	}
	diag "node$i: poll timed out after ${timeout}s:\n  $sql\nexpected: $expected\nlast answer: $out\nstderr: $err";
	return 0;
}

# wait_delivered(I, TIMEOUT_S [, PEER]): true once node I's outbox is empty (all
# shares it queued acknowledged); diag of the outbox and channels otherwise
sub wait_delivered
{
	my ($self, $i, $timeout, $peer) = @_;
	$timeout //= 180;
	my $p = defined $peer ? ", '$peer'" : '';
	my ($rc, $out, $err) = $self->psql($i, "SELECT ssn.wait_delivered('$timeout s'$p)",
		timeout => $timeout + 30);
	return 1 if $rc == 0 && $out eq 't';
	diag "node$i: not delivered within ${timeout}s (rc $rc, $out) $err\n" . $self->channel_report($i);
	return 0;
}

# wait until every running node's outbox is empty
sub wait_all_delivered
{
	my ($self, $timeout) = @_;
	my $ok = 1;
	for my $i (1 .. $self->{n})
	{
		next unless $self->running($i);
		$ok = 0 unless $self->wait_delivered($i, $timeout);
	}
	return $ok;
}

# a text report of a node's channels, outbox and active alarms (for diag)
sub channel_report
{
	my ($self, $i) = @_;
	return "node$i is down" unless $self->running($i);
	my $r = '';
	for my $q (
		q{SELECT peer, shares, attempts, last_error FROM (SELECT peer, sum(shares) AS shares, max(attempts) AS attempts, (array_agg(last_error ORDER BY id DESC))[1] AS last_error FROM ssn.outbox GROUP BY peer) o ORDER BY peer},
		q{SELECT * FROM ssn.channels ORDER BY peer},
		q{SELECT source, object, severity, problem, detail, count FROM ssn.active_alarms},
		q{SELECT pid, backend_type, state, wait_event FROM pg_stat_activity WHERE backend_type LIKE 'ssn%'})
	{
		my ($rc, $out, $err) = $self->psql($i, "\\pset tuples_only off\n\\pset footer off\n\\pset format aligned\n$q", timeout => 60);
		$out =~ s/^(?:Pager usage|Default footer|Output format).*\n//mg;
		$r .= "node$i> $q\n" . ($rc == 0 ? $out : $err) . "\n";
	}
	return $r;
}

# ---- node control

sub stop
{
	my ($self, $i, $mode) = @_;
	$self->node($i)->stop($mode // 'fast');
}

sub start
{
	my ($self, $i) = @_;
	$self->node($i)->start;
}

# kill -9 of node I's postmaster; waits until every process it had started is gone,
# so that the node can be started again (shared memory released)
sub kill9
{
	my ($self, $i, $timeout) = @_;
	my $node = $self->node($i);
	my $pm = $node->{_pid};
	croak "node$i is not running" unless $pm;
	my @children = children_of($pm);
	$node->kill9;
	$timeout //= 180;
	my $deadline = time + $timeout;
	my @alive;
	while (1)
	{
		@alive = grep { kill 0, $_ } ($pm, @children);
		last if !@alive || time > $deadline;
		usleep(50_000);
	}
	if (@alive)
	{
		diag "node$i: processes still alive $timeout s after kill -9 of the postmaster $pm: "
		  . join(', ', map { "$_ " . (slurp_proc("/proc/$_/cmdline") =~ tr/\0/ /r) } @alive);
		kill 'KILL', @alive;    # our own node's processes
		usleep(200_000);
		return 0;
	}
	return 1;
}

sub slurp_proc
{
	my ($f) = @_;
	open my $fh, '<', $f or return '';
	local $/;
	my $s = <$fh>;
	return $s // '';
}

sub children_of
{
	my ($ppid) = @_;
	my @kids;
	opendir my $d, '/proc' or return ();
	for my $p (grep { /^\d+$/ } readdir $d)
	{
		my $st = slurp_proc("/proc/$p/stat");
		push @kids, $p if $st =~ /^\d+ \(.*\) \S (\d+) / && $1 == $ppid;
	}
	return @kids;
}

# pids of node I's ssn background processes: { pid => backend_type }
sub ssn_workers
{
	my ($self, $i) = @_;
	my %w;
	for (split /\n/, $self->sql($i, q{SELECT pid || '|' || backend_type FROM pg_stat_activity WHERE backend_type LIKE 'ssn%'}))
	{
		my ($pid, $type) = split /\|/, $_, 2;
		$w{$pid} = $type;
	}
	return \%w;
}

# ---- the KME simulator

# owner_env(SAE): the environment that makes ssn-client data owner SAE
sub owner_env
{
	my ($self, $sae) = @_;
	my $pki = $self->{pki};
	return (
		SSN_KME_URL => $self->kme_url,
		SSN_SAE_ID => $sae,
		SSN_SAE_CERT => "$pki/sae/$sae.crt",
		SSN_SAE_KEY => "$pki/sae/$sae.key",
		SSN_KME_CA => "$pki/ca.crt",
		SSN_KME_CRL => "$pki/crl.pem");
}

sub kme_url { return "https://127.0.0.1:$_[0]{kme_port}"; }
sub kme_port { return $_[0]{kme_port}; }

# kme_conf(LINK PARAMETERS): the simulator's configuration text
sub kme_conf
{
	my ($self, %link) = @_;
	my $port = $self->{kme_port} // 0;
	my $c = "# SsnNet\n[kme]\nid = KME_TAP\nlisten = 127.0.0.1\nport = $port\n"
	  . "cert = pki/kme/kme.crt\nkey = pki/kme/kme.key\nca = pki/ca.crt\ncrl = pki/crl.pem\n"
	  . "max_connections = 128\n\n[defaults]\ndirection = both\n";
	my %p = (max_key_count => 100000, %{ $self->{kme_link} }, %link);
	$c .= "$_ = $p{$_}\n" for sort keys %p;
	for my $i (1 .. $self->{n})
	{
		$c .= "\n[link SAE_$i SAE_$_]\n" for $i + 1 .. $self->{n};
		$c .= "\n[link $_ SAE_$i]\n" for @{ $self->{owners} };
	}
	return $c;
}

# kme_start(LINK PARAMETERS): start kme-sim (on the port it had, if it ran before)
sub kme_start
{
	my ($self, %link) = @_;
	croak 'kme-sim is already running' if $self->{kme_pid};
	my $dir = $self->{dir};
	delete $self->{kme_port} if defined $link{port};
	delete $link{port};
	my $cf = "$dir/kme.conf";
	open my $fh, '>', $cf or croak $!;
	print $fh $self->kme_conf(%link);
	close $fh;
	unlink "$dir/kme.port", "$dir/kme.pid";
	my $deadline = time + 60;
	while (1)
	{
		last if system(tool('kme-sim') . " -c $cf -P $dir/kme.port -p $dir/kme.pid -d 2>>$dir/kme.log") == 0;
		# the old port may linger for a moment after a stop
		croak 'kme-sim did not start: ' . slurp_file("$dir/kme.log") if time > $deadline;
		usleep(200_000);
	}
	$deadline = time + 120;
	until ((-s "$dir/kme.port" && -s "$dir/kme.pid") || time > $deadline)
	{
		usleep(50_000);
	}
	my $port = slurp_file("$dir/kme.port");
	chomp $port;
	my $pid = slurp_file("$dir/kme.pid");
	chomp $pid;
	croak "kme-sim: no port/pid file" unless $port && $pid;
	$self->{kme_port} = $port;
	$self->{kme_pid} = $pid;
	return $port;
}

sub kme_stop
{
	my ($self) = @_;
	my $pid = $self->{kme_pid} or return;
	kill 'TERM', $pid;
	my $deadline = time + 60;
	while (kill 0, $pid)
	{
		last if time > $deadline;
		usleep(50_000);
	}
	if (kill 0, $pid)
	{
		kill 'KILL', $pid;
		$deadline = time + 60;
		usleep(50_000) while kill(0, $pid) && time < $deadline;
	}
	$self->{kme_pid} = undef;
}

# restart kme-sim with other link parameters (same port), e.g. an empty pool:
# kme_restart(initial_keys => 0, rate => 1); kme_restart() brings the defaults back
sub kme_restart
{
	my ($self, %link) = @_;
	$self->kme_stop;
	return $self->kme_start(%link);
}

sub kme_log { return slurp_file("$_[0]{dir}/kme.log"); }

# ---- checks shared by the tests

# every key ID at most once as 'send' and once as 'receive' across all nodes; every
# used received key was sent by the peer named; nothing left 'fetched' but the
# copies of peers' reply keys the server holds
sub check_key_ledger
{
	my ($net, $when) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @up = grep { $net->running($_) } 1 .. $net->n;
	# one bound for all nodes together (keys in flight settle within moments; the
	# bound only matters when they never do)
	my $deadline = time + 120;
	for my $i (@up)
	{
		my $wait = int($deadline - time);
		$wait = 1 if $wait < 1;
		# copies of peers' reply keys are 'fetched' by the server while it holds them
		ok($net->poll($i, q{SELECT (SELECT count(*) FROM ssn.key_ledger WHERE state = 'fetched' AND purpose = 'reply keys ahead')
			= (SELECT coalesce(sum(held), 0) FROM ssn.reply_key_copies())}, 't', $wait),
			"node$i: every reply key copy on the record is held in shared memory, and no other ($when)");
		next if ok($net->poll($i, q{SELECT count(*) FROM ssn.key_ledger WHERE state = 'fetched' AND purpose <> 'reply keys ahead'}, '0', $wait),
			"node$i: no key left 'fetched' by a process ($when)");
		diag "node$i: fetched keys: " . ($net->query($i, q{SELECT string_agg(n || ' ' || direction || ' ' || peer || ' ' || purpose
			|| ' holder ' || coalesce(holder_pid::text, '-') || ' ' || alive, '; ') FROM (SELECT direction, peer, purpose, holder_pid,
			count(*) AS n, EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = l.holder_pid) AS alive
			FROM ssn.key_ledger l WHERE state = 'fetched' AND purpose <> 'reply keys ahead' GROUP BY 1, 2, 3, 4) s}) // '?');
	}
	my (%send, %recv, %states);
	my $dups = 0;
	for my $i (@up)
	{
		for (split /\n/, $net->query($i, q{SELECT key_id || '|' || direction || '|' || peer || '|' || state FROM ssn.key_ledger}) // '')
		{
			my ($id, $dir, $peer, $state) = split /\|/;
			$states{"$dir $state"}++;
			my $h = $dir eq 'send' ? \%send : \%recv;
			$dups++ if exists $h->{$id};
			$h->{$id} = [ "node$i", $peer, $state ];
		}
	}
	is($dups, 0, "key ledgers of all nodes: no key ID twice in one direction ($when)");
	my $mismatch = 0;
	for my $id (keys %recv)
	{
		my ($node, $peer, $state) = @{ $recv{$id} };
		next unless $state eq 'used';
		my $s = $send{$id};
		$mismatch++ unless $s && $s->[0] eq $peer && $s->[1] eq $node;
	}
	is($mismatch, 0, "every key used by a receiver was fetched by the sender it names, for it ($when)");
	cmp_ok(scalar(keys %send), '>', 0, "keys were used ($when)");
	diag "key ledger ($when): " . join(', ', map { "$_ $states{$_}" } sort keys %states);
}

# ---- teardown

sub teardown
{
	my ($self) = @_;
	for my $node (@{ $self->{nodes} })
	{
		$node->stop('immediate', fail_ok => 1) if defined $node->{_pid};
	}
	$self->kme_stop;
	@live_nets = grep { $_ != $self } @live_nets;
}

END
{
	for my $net (@live_nets) { $net->kme_stop; }
}

1;
