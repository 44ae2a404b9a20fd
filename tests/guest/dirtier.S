/* dirtier.S: a guest that dirties its memory, for the benchmarks and tests that need a
 * running guest (there is no guest OS here). A multiboot kernel (QEMU -kernel): from 2 MiB
 * to the top of its RAM (the multiboot memory map's mem_upper), it adds 1 to one word of
 * every 4 KiB page, over and over, and counts the passes at guest-physical 0x7000, which a
 * test reads (HMP xp) to see that the guest runs: some machines have a /dev/kvm whose
 * guests never execute a thing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
    .text
    /* the multiboot header, in the first 8 KiB of the file: magic, flags (memory info),
     * checksum */
    .align 4
    .long 0x1BADB002
    .long 0x00000002
    .long -(0x1BADB002 + 0x00000002)
    .code32
    .globl _start
_start:
    cli
    movl 8(%ebx), %ecx          /* mem_upper: KiB above 1 MiB */
    shll $10, %ecx
    addl $0x100000, %ecx
    subl $0x1000, %ecx          /* the end: the last whole page */
    movl $0x7000, %esi          /* the pass counter */
    movl $0, (%esi)
1:  movl $0x200000, %edi
2:  incl (%edi)
    addl $4096, %edi
    cmpl %ecx, %edi
    jb 2b
    incl (%esi)
    jmp 1b
