-- AlterTable
ALTER TABLE "RemoteZulipServer" ADD COLUMN     "lastInstallationCountId" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "lastRealmAuditLogId" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "lastRealmCountId" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "plan" TEXT;

-- AlterTable
ALTER TABLE "RemoteRealm" ADD COLUMN     "plan" TEXT;
