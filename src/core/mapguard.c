/* Surviving SIGBUS on file mappings whose file shrinks while it is read.
 *
 * A page of a MAP_SHARED or MAP_PRIVATE file mapping past the file's current end raises
 * SIGBUS when touched. Captures are mapped by the reader and read by the reader and by
 * every worker (packet bytes are borrowed from the mapping), so a sigsetjmp() in one
 * thread cannot cover it. Instead, while an analysis runs, a process-wide SIGBUS handler
 * looks the faulting address up in a small registry of the live capture mappings; when it
 * lies in one, it maps an anonymous zero page over the faulting page (MAP_FIXED, the same
 * range, so the later munmap() of the whole window still works), counts the fault and
 * returns: the access is retried and reads zeros. The reader notices the count change,
 * checks the file's size and reports the file as shrunk at the first record it could not
 * read. Any other SIGBUS is a real bug: the previous disposition is restored and the
 * signal is raised again.
 *
 * The registry is written by the thread that maps or unmaps a window (the reader maps,
 * the worker that drops the last reference unmaps) and read by the handler in any thread,
 * so it is a fixed array of slots updated with atomics only: a slot is claimed with a
 * compare-exchange of its base from 0, its length is stored before its base is published
 * (release), and on removal the base is cleared before the unmap. The handler reads base,
 * length and base again and trusts the slot only when both bases agree. The fault count
 * and the registry are globals because a signal handler can reach nothing else.
 */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 256

struct slot {
	_Atomic uintptr_t base;
	_Atomic size_t len;
};

static struct slot slots[SLOTS];
static uintptr_t page_mask; /* written before the handler is installed */
static struct sigaction old_action;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned n_installed;
_Atomic uint64_t tt_mapguard_n_faults_;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	(void)uctx;
	/* Hardware faults only: a SIGBUS sent by kill() or raise() (si_code <= 0) is not
	 * an access that can be retried. */
	if (si->si_code > 0) {
		for (unsigned i = 0; i < SLOTS; i++) {
			uintptr_t b = atomic_load_explicit(&slots[i].base, memory_order_acquire);
			size_t len;

			if (b == 0 || a < b)
				continue;
			len = atomic_load_explicit(&slots[i].len, memory_order_relaxed);
			if (atomic_load_explicit(&slots[i].base, memory_order_relaxed) != b ||
			    a - b >= len)
				continue;
			if (mmap((void *)(a & page_mask), page_mask ? ~page_mask + 1 : 4096,
				PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1,
				0) == MAP_FAILED)
				break;
			atomic_fetch_add_explicit(&tt_mapguard_n_faults_, 1, memory_order_relaxed);
			return;
		}
	}
	/* Not ours: the previous disposition (by default, the core dump) takes it. */
	sigaction(SIGBUS, &old_action, NULL);
	if (si->si_code <= 0)
		raise(sig);
	/* A hardware fault returns to the faulting instruction, which faults again. */
}

int tt_mapguard_install(void)
{
	struct sigaction sa;
	int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	pthread_mutex_lock(&install_lock);
	if (n_installed == 0) {
		page_mask = ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
		if (sigaction(SIGBUS, &sa, &old_action) < 0)
			rc = -errno;
	}
	if (rc == 0)
		n_installed++;
	pthread_mutex_unlock(&install_lock);
	return rc;
}

void tt_mapguard_uninstall(void)
{
	pthread_mutex_lock(&install_lock);
	if (n_installed > 0 && --n_installed == 0)
		sigaction(SIGBUS, &old_action, NULL);
	pthread_mutex_unlock(&install_lock);
}

bool tt_mapguard_add(const void *base, size_t len)
{
	for (unsigned i = 0; i < SLOTS; i++) {
		uintptr_t zero = 0;

		if (atomic_load_explicit(&slots[i].base, memory_order_relaxed) != 0)
			continue;
		/* Claim with a placeholder that matches no address, then publish. */
		if (!atomic_compare_exchange_strong(&slots[i].base, &zero, UINTPTR_MAX))
			continue;
		atomic_store_explicit(&slots[i].len, len, memory_order_relaxed);
		atomic_store_explicit(&slots[i].base, (uintptr_t)base, memory_order_release);
		return true;
	}
	return false; /* full: this mapping is not guarded */
}

void tt_mapguard_remove(const void *base)
{
	for (unsigned i = 0; i < SLOTS; i++) {
		if (atomic_load_explicit(&slots[i].base, memory_order_relaxed) == (uintptr_t)base) {
			atomic_store_explicit(&slots[i].len, 0, memory_order_relaxed);
			atomic_store_explicit(&slots[i].base, 0, memory_order_release);
			return;
		}
	}
}
